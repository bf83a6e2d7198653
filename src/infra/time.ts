// The original API's wire format for times: `YYYY-MM-DD HH:mm:ss`, in the server's local time zone
// (set TZ to choose it). MySQL keeps milliseconds (DATETIME(3)); the wire does not.

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function formatTime(d: Date | null | undefined): string | null {
  if (!d) return null;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
