// The Redis Cluster hash slot of a key (CRC16/XMODEM of the key's hash tag, mod 16384), to group keys
// that one script call may take together. ioredis computes the same internally but does not export it.

/** The part of the key that is hashed: the first non-empty `{…}`, else the whole key. */
function hashed(key: string): Buffer {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return Buffer.from(key.slice(open + 1, close));
  }
  return Buffer.from(key);
}

export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of hashed(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
