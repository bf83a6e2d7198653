// "Ask the user for the API token": a request the token dialog (components/tokenDialog.ts) answers.
// Requests made while the dialog is open wait for the same answer, so it is asked once.

export interface TokenRequest {
  message: string;
  answer(token: string | null): void;
}

let current: TokenRequest | null = null;
let waiting: Promise<string | null> | null = null;
const listeners = new Set<(r: TokenRequest | null) => void>();

export function onTokenRequest(fn: (r: TokenRequest | null) => void): () => void {
  listeners.add(fn);
  fn(current);
  return () => listeners.delete(fn);
}

/** Resolves with the token the user typed, or null if they cancelled. */
export function askToken(message: string): Promise<string | null> {
  if (waiting) return waiting;
  waiting = new Promise<string | null>((resolve) => {
    current = {
      message,
      answer(token) {
        current = null;
        waiting = null;
        for (const l of listeners) l(null);
        resolve(token && token.trim() ? token.trim() : null);
      },
    };
    for (const l of listeners) l(current);
  });
  return waiting;
}
