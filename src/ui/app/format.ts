// Small formatting helpers shared by the pages.

/** 950 ms, 12.3 s, 3 min, 4 min 05 s, 2 h 03 min. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  if (m < 60) return sec ? `${m} min ${String(sec).padStart(2, '0')} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Milliseconds between two API times ("YYYY-MM-DD HH:mm:ss", same time zone), or null. */
export function between(start: string | null | undefined, end: string | null | undefined): number | null {
  const a = parseApiTime(start);
  const b = parseApiTime(end);
  return a === null || b === null ? null : b - a;
}

export function parseApiTime(t: string | null | undefined): number | null {
  if (!t) return null;
  const d = new Date(t.replace(' ', 'T'));
  return Number.isNaN(d.getTime()) ? null : d.getTime();
}

/** An epoch-ms time as HH:mm:ss.SSS (local). */
export function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function completionText(c: unknown): string {
  if (c === 'ALL') return 'all tasks must succeed';
  if (typeof c === 'number') return `at least ${c} must succeed`;
  return 'any one success';
}

export function shortJson(v: unknown, max = 120): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
