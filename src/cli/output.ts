/** Writes that finish before the CLI exits (process.exit can cut off piped output). */

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(text.endsWith("\n") ? text : `${text}\n`, (err) => (err ? reject(err) : resolve())));
}

export const printOut = (text: string): Promise<void> => write(process.stdout, text);
export const printErr = (text: string): Promise<void> => write(process.stderr, text);
