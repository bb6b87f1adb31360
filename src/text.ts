/** Text checks and escapes shared by every layer: a leaf module that imports nothing. */

// C0 controls, DEL and C1 controls: anything a terminal or a log reader may act on.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function hasControlCharacter(value: string): boolean {
  return CONTROL.test(value);
}

/**
 * Escapes control characters so that user-supplied text (a policy key, a file name, kopia's own
 * words) cannot start a line of its own or steer a terminal: a forged summary line stays inside
 * the line that quotes it.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL_ALL, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
