import type { LOG_LEVELS } from '../kopia/vocabulary.js';
import type { Compressor } from '../kopia/vocabulary.js';
export type { Compressor };

export type Operation = 'backup' | 'restore' | 'maintenance';
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Identity {
  username: string;
  hostname: string;
}

export interface Retention {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  latest?: number;
}
