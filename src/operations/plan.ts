import type { KopiaCommand } from '../kopia/command.js';

/** One entry of a printed plan: a kopia command, or a step the program does itself. */
export type PlanStep = { command: KopiaCommand } | { note: string };
