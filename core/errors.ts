// The error catalogue: every error shadowdiff raises on purpose has a stable code, says whose
// fault it is, and tells the reader what to do. docs/errors.md lists the same codes (a test
// keeps the two in step).

/** Whose fault an error is: the caller's input, an upstream service, or a bug of ours. */
export type ErrorSource = 'caller' | 'upstream' | 'internal';

interface CatalogueEntry {
  readonly source: ErrorSource;
  /** What the reader should do about it; appended to every message with this code. */
  readonly hint: string;
}

export const ERRORS = {
  SHADOWDIFF_BAD_JSON: {
    source: 'caller',
    hint: 'Each line must be one complete JSON value; check the file was not truncated or concatenated.',
  },
  SHADOWDIFF_BAD_RECORD: {
    source: 'caller',
    hint: 'See docs/effect-format.md for the record format.',
  },
  SHADOWDIFF_RULES: {
    source: 'caller',
    hint: 'See docs/rules.md for the rules format.',
  },
  SHADOWDIFF_USAGE: {
    source: 'caller',
    hint: 'Run `shadowdiff <command> --help` for the options.',
  },
  SHADOWDIFF_IO: {
    source: 'caller',
    hint: 'Check the path exists and is readable.',
  },
  SHADOWDIFF_SERVICE_UNAVAILABLE: {
    source: 'upstream',
    hint: 'Start the service or point shadowdiff at one that runs (see README: Running the tests).',
  },
  SHADOWDIFF_UNROUTABLE: {
    source: 'upstream',
    hint: 'The partition queues are missing or unbound: start a worker (it declares them) or check the --prefix and --partitions match.',
  },
  SHADOWDIFF_STORE: {
    source: 'upstream',
    hint: 'Check the store is reachable and writable (disk space, permissions); shadowdiff retries and resumes by itself.',
  },
  SHADOWDIFF_CONFIG: {
    source: 'caller',
    hint: 'Settings and the environment variables that set them: docs/pipeline.md (worker), docs/proxy.md (proxy), docs/sdk.md (SDK).',
  },
  SHADOWDIFF_INTERNAL: {
    source: 'internal',
    hint: 'This is a bug in shadowdiff; please report it with the command you ran.',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

export class ShadowdiffError extends Error {
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  /** Extra structured detail (file, line, field) for logs and JSON output. */
  readonly detail: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(`${message} ${ERRORS[code].hint}`, options);
    this.name = 'ShadowdiffError';
    this.code = code;
    this.source = ERRORS[code].source;
    this.detail = detail;
  }
}

/** True when the error is the user's to fix: show the message, never a stack trace. */
export function isCallerError(err: unknown): err is ShadowdiffError {
  return err instanceof ShadowdiffError && err.source === 'caller';
}
