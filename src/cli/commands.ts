/**
 * The subcommands, in the order `lenet-mnist --help` lists them. A new subcommand module
 * exports a `Command` (see command.ts) and is registered here with one line.
 */
import type { Command } from './command.js';
import { evalCommand } from './eval.js';
import { infoCommand } from './info.js';
import { exportCommand, importCommand } from './interop.js';
import { predictCommand } from './predict.js';
import { showCommand } from './show.js';
import { trainCommand } from './train.js';

export const COMMANDS: readonly Command[] = [
  trainCommand,
  evalCommand,
  predictCommand,
  showCommand,
  infoCommand,
  importCommand,
  exportCommand,
];
