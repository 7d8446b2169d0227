import * as cairnErrors from "./errors.js";
import { CairnError, ValidationError } from "./errors.js";

/**
 * The classes a recorded error can come back as. A name is all a record can
 * carry, so a class keeps `instanceof` through a recorded step error only if it
 * is registered (under a name that is stable across deploys and bundling):
 * an error of an unregistered class comes back as its nearest registered
 * ancestor (at least `Error`), with its original `name`.
 */
export type ErrorClass = new (...args: any[]) => Error;

const classesByName = new Map<string, ErrorClass>();
/** Keyed by prototype: what an instance's prototype chain leads to, whatever `constructor` says. */
const namesByPrototype = new Map<object, string>();

const MAX_NAME_LENGTH = 200;

/**
 * Registers an error class so a recorded error of it (or of an unregistered
 * subclass) is rebuilt as an instance of it, without running its constructor.
 * `name` defaults to the class name; pass one if your bundler renames classes.
 * Registering the same class again is harmless, and a class may be registered
 * under a second name (to read records written under an old one); two classes
 * under one name is a ValidationError.
 */
export function registerErrorClass(cls: ErrorClass, name?: string): void {
  if (typeof cls !== "function" || !(cls === Error || cls.prototype instanceof Error)) {
    throw new ValidationError(`registerErrorClass takes a class extending Error, got ${describe(cls)}`);
  }
  const key = name ?? cls.name;
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_NAME_LENGTH) {
    throw new ValidationError(`Cannot register error class ${cls.name || "(anonymous)"}: its name must be 1 to ${MAX_NAME_LENGTH} characters (pass one as the second argument)`);
  }
  const existing = classesByName.get(key);
  if (existing !== undefined && existing !== cls) {
    throw new ValidationError(
      `Cannot register error class ${cls.name || "(anonymous)"} as "${key}": class ${existing.name} is already registered under that name; pass another name as the second argument`,
    );
  }
  classesByName.set(key, cls);
  if (!namesByPrototype.has(cls.prototype)) namesByPrototype.set(cls.prototype, key);
}

/** The registered name of the error's class, or of its nearest registered ancestor. */
export function errorClassName(err: Error): string {
  try {
    for (let proto: object | null = Object.getPrototypeOf(err); proto !== null; proto = Object.getPrototypeOf(proto)) {
      const name = namesByPrototype.get(proto);
      if (name !== undefined) return name;
    }
  } catch {
    // A Proxy whose getPrototypeOf trap throws: Error is all we can say.
  }
  return "Error";
}

/** The class registered under a name, if any. */
export function errorClassNamed(name: string): ErrorClass | undefined {
  return classesByName.get(name);
}

function describe(value: unknown): string {
  return typeof value === "function" ? `function ${value.name || "(anonymous)"}` : typeof value;
}

for (const cls of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError]) {
  registerErrorClass(cls);
}
// Every CairnError subclass exported by errors.ts, under its export name (stable even when bundling renames classes).
for (const [exportName, value] of Object.entries(cairnErrors)) {
  if (typeof value === "function" && (value === CairnError || value.prototype instanceof CairnError)) {
    registerErrorClass(value as ErrorClass, `cairn.${exportName}`);
  }
}
