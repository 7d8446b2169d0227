/**
 * Every error Cairn throws on purpose is a CairnError with a stable `code`,
 * because `instanceof` does not survive a control Lambda's answer or the CLI.
 * Every CairnError class exported from this file is registered with the error
 * codec (src/errorClasses.ts, as `cairn.<ExportName>`), so it keeps its class
 * and fields through a recorded step error: export new ones from here.
 */
export class CairnError extends Error {
  readonly code: string = "CAIRN_ERROR";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Bad arguments from a caller: nothing was changed. */
export class ValidationError extends CairnError {
  override readonly code = "VALIDATION_ERROR";
}

export class WorkflowNotFoundError extends CairnError {
  override readonly code = "WORKFLOW_NOT_FOUND";
  constructor(readonly workflowId: string) {
    super(`Workflow "${workflowId}" does not exist`);
  }
}

/** An operation that the workflow's current status does not allow. */
export class InvalidWorkflowStateError extends CairnError {
  override readonly code = "INVALID_WORKFLOW_STATE";
  constructor(
    readonly workflowId: string,
    readonly status: string,
    operation: string,
    allowed: readonly string[],
  ) {
    super(`Cannot ${operation} workflow "${workflowId}": its status is ${status} (allowed: ${allowed.join(", ")})`);
  }
}

/** The same workflow id is already taken by a different workflow, or changed under us. */
export class WorkflowConflictError extends CairnError {
  override readonly code = "WORKFLOW_CONFLICT";
  constructor(
    readonly workflowId: string,
    message: string,
  ) {
    super(message);
  }
}

/** A workflow with the same deduplication id is still ENQUEUED or PENDING on the queue. */
export class DuplicateWorkflowError extends CairnError {
  override readonly code = "DUPLICATE_WORKFLOW";
  constructor(
    readonly queueName: string,
    readonly deduplicationId: string,
    /** The workflow that holds the deduplication id. */
    readonly existingWorkflowId: string,
  ) {
    super(`Queue "${queueName}" already has workflow "${existingWorkflowId}" with deduplication id ${JSON.stringify(deduplicationId)} waiting or running; nothing was started`);
  }
}

export class StepOutOfRangeError extends CairnError {
  override readonly code = "STEP_OUT_OF_RANGE";
  constructor(
    readonly workflowId: string,
    readonly startStep: number,
    readonly maxStep: number,
  ) {
    super(
      `Cannot fork workflow "${workflowId}" from step ${startStep}: the start step must be between 1 and ${maxStep} (one past its ${maxStep - 1} recorded steps)`,
    );
  }
}

export class UnknownWorkflowError extends CairnError {
  override readonly code = "UNKNOWN_WORKFLOW";
  constructor(readonly workflowName: string, known: readonly string[]) {
    super(`No workflow named "${workflowName}" is registered (known: ${known.length ? known.join(", ") : "none"})`);
  }
}

/** The workflow code called its durable operations in a different order than recorded. */
export class NonDeterminismError extends CairnError {
  override readonly code = "NON_DETERMINISM";
  constructor(
    readonly workflowId: string,
    readonly stepIndex: number,
    message: string,
  ) {
    super(message);
  }
}

/** A value a step or workflow produced cannot be stored faithfully. */
export class SerializationError extends CairnError {
  override readonly code = "SERIALIZATION_ERROR";
}

export class PayloadTooLargeError extends CairnError {
  override readonly code = "PAYLOAD_TOO_LARGE";
}

/** Misuse of the workflow context, e.g. ctx.step inside a step body. */
export class WorkflowContextError extends CairnError {
  override readonly code = "WORKFLOW_CONTEXT_ERROR";
}

/** getResult of a workflow that ended in ERROR. */
export class WorkflowFailedError extends CairnError {
  override readonly code = "WORKFLOW_FAILED";
  constructor(
    readonly workflowId: string,
    readonly failure: { name: string; message: string; stack?: string },
  ) {
    super(`Workflow "${workflowId}" failed: ${failure.name}: ${failure.message}`);
  }
}

export class WorkflowCancelledError extends CairnError {
  override readonly code = "WORKFLOW_CANCELLED";
  constructor(readonly workflowId: string) {
    super(`Workflow "${workflowId}" was cancelled`);
  }
}

export class WorkflowRecoveryExceededError extends CairnError {
  override readonly code = "MAX_RECOVERY_ATTEMPTS_EXCEEDED";
  constructor(readonly workflowId: string, reason: string | undefined) {
    super(`Workflow "${workflowId}" exceeded its recovery attempts${reason ? `: ${reason}` : ""}`);
  }
}

export class ResultTimeoutError extends CairnError {
  override readonly code = "RESULT_TIMEOUT";
  constructor(
    readonly workflowId: string,
    readonly timeoutMs: number,
    readonly status: string,
  ) {
    super(`Workflow "${workflowId}" did not finish within ${timeoutMs} ms (status ${status})`);
  }
}

/** A message on the work queue that is not a Cairn work item. */
export class MalformedMessageError extends CairnError {
  override readonly code = "MALFORMED_MESSAGE";
}

/**
 * A step's attempts were used up without an outcome to record (its workers died
 * mid-step): thrown into the workflow, which may catch it, as Temporal does.
 */
export class StepAttemptsExhaustedError extends CairnError {
  override readonly code = "STEP_ATTEMPTS_EXHAUSTED";
  constructor(
    readonly workflowId: string,
    readonly stepIndex: number,
    readonly stepName: string,
    readonly maxAttempts: number,
  ) {
    super(
      `Step ${stepIndex} "${stepName}" of workflow "${workflowId}" used up its ${maxAttempts} attempt${maxAttempts === 1 ? "" : "s"} without finishing (its workers stopped mid-step)`,
    );
  }
}

/** The deployment is missing a setting (an environment variable): nothing the caller sent is at fault. */
export class ConfigurationError extends CairnError {
  override readonly code = "CONFIGURATION_ERROR";
}
