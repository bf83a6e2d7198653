// The API token prompt: a modal <dialog> shown when a request got 401 (the server has API_TOKENS).
// The token is kept in sessionStorage by api.ts; Escape or Cancel goes on without one.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { onTokenRequest, type TokenRequest } from '../tokens.js';

export function TokenDialog() {
  const [req, setReq] = useState<TokenRequest | null>(null);
  const [value, setValue] = useState('');
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => onTokenRequest(setReq), []);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    // A new request (a refused token asks again, maybe before the dialog was seen to close) starts empty.
    if (req) {
      setValue('');
      if (!d.open) d.showModal();
    } else if (d.open) d.close();
  }, [req]);

  const submit = (e: Event) => {
    e.preventDefault();
    req?.answer(value);
  };
  return html`<dialog ref=${ref} class="token-dialog" aria-labelledby="token-title" aria-describedby="token-message" onCancel=${() => req?.answer(null)}>
    <form onSubmit=${submit}>
      <h2 id="token-title">API token</h2>
      <p id="token-message">${req?.message ?? ''} It is kept for this tab only.</p>
      <label for="api-token">Token</label>
      <input id="api-token" type="password" autocomplete="off" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} />
      <div class="actions">
        <button type="submit" class="primary">Use token</button>
        <button type="button" onClick=${() => req?.answer(null)}>Cancel</button>
      </div>
    </form>
  </dialog>`;
}
