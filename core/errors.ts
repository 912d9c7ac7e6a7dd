// The error catalogue: every error shadowdiff raises on purpose has a stable code, says whose
// fault it is, what HTTP status it is where one answers (the report, the admin API), and tells
// the reader what to do. The message says what went wrong; the hint, kept apart, what to do:
// the CLI prints both, an HTTP answer the message. docs/errors.md lists the same codes (a test
// keeps the two in step).

/** Whose fault an error is: the caller's input, an upstream service, or a bug of ours. */
export type ErrorSource = 'caller' | 'upstream' | 'internal';

interface CatalogueEntry {
  readonly source: ErrorSource;
  /** The status an HTTP answer gives it. */
  readonly status: number;
  /** What the reader should do about it, for every error with this code. */
  readonly hint: string;
}

/** @public */
export const ERRORS = {
  SHADOWDIFF_BAD_JSON: {
    source: 'caller',
    status: 400,
    hint: 'Each line must be one complete JSON value; check the file was not truncated or concatenated.',
  },
  SHADOWDIFF_BAD_RECORD: {
    source: 'caller',
    status: 400,
    hint: 'See docs/effect-format.md for the record format.',
  },
  SHADOWDIFF_RULES: {
    source: 'caller',
    status: 400,
    hint: 'See docs/rules.md for the rules format.',
  },
  SHADOWDIFF_USAGE: {
    source: 'caller',
    status: 400,
    hint: 'Run `shadowdiff <command> --help` for the options.',
  },
  SHADOWDIFF_NOT_FOUND: {
    source: 'caller',
    status: 404,
    hint: 'The report\'s front page and GET /api/runs list the runs this store holds.',
  },
  SHADOWDIFF_BUSY: {
    source: 'caller',
    status: 409,
    hint: 'One re-evaluation per run at a time: follow its progress, wait for it to end, or cancel it (docs/report.md, Re-evaluation).',
  },
  SHADOWDIFF_HELD: {
    source: 'caller',
    status: 409,
    hint: 'A live share the guard rolled back stays at 0 until a person resumes it: shadowdiff cutover --resume --reason "…" (docs/cutover.md).',
  },
  SHADOWDIFF_IO: {
    source: 'caller',
    status: 400,
    hint: 'Check the path exists and is readable.',
  },
  SHADOWDIFF_SERVICE_UNAVAILABLE: {
    source: 'upstream',
    status: 503,
    hint: 'Start the service or point shadowdiff at one that runs (see README: Running the tests).',
  },
  SHADOWDIFF_UNROUTABLE: {
    source: 'upstream',
    status: 503,
    hint: 'The partition queues are missing or unbound: start a worker (it declares them) or check the --prefix and --partitions match.',
  },
  SHADOWDIFF_STORE: {
    source: 'upstream',
    status: 503,
    hint: 'Check the store is reachable and writable (disk space, permissions); shadowdiff retries and resumes by itself.',
  },
  SHADOWDIFF_CONFIG: {
    source: 'caller',
    status: 400,
    hint: 'Settings and the environment variables that set them: docs/pipeline.md (worker), docs/proxy.md (proxy), docs/sdk.md (SDK).',
  },
  SHADOWDIFF_INTERNAL: {
    source: 'internal',
    status: 500,
    hint: 'This is a bug in shadowdiff; please report it with the command you ran.',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** @public */
export class ShadowdiffError extends Error {
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  readonly status: number;
  /** What to do about it (the catalogue's, for the code). */
  readonly hint: string;
  /** Extra structured detail (file, line, field) for logs and JSON output. */
  readonly detail: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ShadowdiffError';
    this.code = code;
    this.source = ERRORS[code].source;
    this.status = ERRORS[code].status;
    this.hint = ERRORS[code].hint;
    this.detail = detail;
  }

  /** The message and what to do about it, as the CLI prints it. */
  get full(): string {
    return `${this.message} ${this.hint}`;
  }
}

/**
 * True when the error is the user's to fix: show the message, never a stack trace.
 * @public
 */
export function isCallerError(err: unknown): err is ShadowdiffError {
  return err instanceof ShadowdiffError && err.source === 'caller';
}
