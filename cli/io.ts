// What a command may do to the outside world, passed in so actions run the same in tests.
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  exitCode(code: number): void;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
  exitCode: (code) => {
    process.exitCode = code;
  },
};
