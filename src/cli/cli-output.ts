/** Where a command writes: standard output and error, passed in so that commands hold no process singletons. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** Exit statuses of every command: 0 done, 1 the thing asked about is not as asked (invalid, failed), 2 usage. */
export const ExitStatus = { ok: 0, failed: 1, usage: 2 } as const;

/** An error a command reports: its message names what is wrong; `status` is the exit status. */
export class CliError extends Error {
  readonly status: number;
  constructor(message: string, status: number = ExitStatus.failed) {
    super(message);
    this.status = status;
  }
}
