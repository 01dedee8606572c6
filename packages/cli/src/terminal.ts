/** The real terminal: a prompt on stderr and a line read from a TTY stdin with echo off. */
import type { ReadStream } from 'node:tty';
import { Interrupted } from './errors.js';
import type { Terminal } from './io.js';

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const CTRL_U = '\u0015';
const BACKSPACE = new Set(['\u007f', '\b']);

export function createTerminal(input: ReadStream, output: NodeJS.WritableStream): Terminal {
  return {
    readSecret(prompt) {
      return new Promise<string>((resolve, reject) => {
        let value = '';
        const finish = (error: Error | null): void => {
          input.off('data', onData);
          input.setRawMode(false);
          input.pause();
          output.write('\n');
          if (error) reject(error);
          else resolve(value);
        };
        // Raw mode turns echo off and hands us each key; we interpret only line editing keys.
        const onData = (chunk: Buffer | string): void => {
          for (const ch of chunk.toString('utf8')) {
            if (ch === '\r' || ch === '\n') {
              finish(null);
              return;
            }
            if (ch === CTRL_C) {
              finish(new Interrupted('interrupted at the passphrase prompt'));
              return;
            }
            if (ch === CTRL_D) {
              if (value === '') {
                finish(new Interrupted('end of input at the passphrase prompt'));
                return;
              }
              continue;
            }
            if (ch === CTRL_U) value = '';
            else if (BACKSPACE.has(ch)) value = [...value].slice(0, -1).join('');
            else if (ch >= ' ') value += ch;
          }
        };
        output.write(prompt);
        input.setRawMode(true);
        input.resume();
        input.on('data', onData);
      });
    },
  };
}
