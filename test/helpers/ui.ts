// The dashboard's bundle for the tests, built once per test process with the build's own function
// (so `npm test` on a fresh clone needs no `npm run build` first).
import { buildUi, type UiBuild } from '../../src/ui/build.js';

let built: Promise<UiBuild> | null = null;

export function builtUi(): Promise<UiBuild> {
  built ??= buildUi();
  return built;
}
