import { createRequire } from 'node:module';
import type * as CommanderModule from 'commander';

/**
 * commander, loaded with require: importing a CommonJS package from an ES module makes Node scan its source for
 * named exports first, which costs `lumen --help` (the one command whose start-up time is a target) a few ms.
 */
const commander = createRequire(import.meta.url)('commander') as typeof CommanderModule;

export const { Command, Option, CommanderError } = commander;
export type Command = CommanderModule.Command;
export type Option = CommanderModule.Option;
export type CommanderError = CommanderModule.CommanderError;
