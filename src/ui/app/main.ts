// The dashboard's entry point (bundled by src/ui/build.ts): mounts the app and routes link clicks.
import { render } from 'preact';
import { html } from 'htm/preact';
import { App } from './app.js';
import { interceptLinks } from './router.js';

interceptLinks();
render(html`<${App} />`, document.getElementById('app')!);
