// `npm run lint`: typescript-eslint's type-aware checks for an async-heavy runtime,
// chiefly promises nobody awaits or handles, and promises passed where a
// function's return value is ignored.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "cdk.out/**", "node_modules/**", "**/*.js", "**/*.mjs"] },
  {
    files: ["**/*.ts"],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        // node:test runs suites and tests it is handed; their promises are its to await.
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["describe", "it", "test", "before", "after", "beforeEach", "afterEach"] }] },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
    },
  },
);
