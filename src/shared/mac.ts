/** Lower-case, separators (`:`, `-`, `.`) removed: the one MAC spelling used in keys and labels. */
export function normalizeMac(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const mac = value.trim().toLowerCase().replace(/[:.-]/g, '');
  return mac.length > 0 ? mac : null;
}

/** Mist device ids embed the MAC: `00000000-0000-0000-1000-<mac>`. */
export function macFromDeviceId(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const match = /^00000000-0000-0000-1000-([0-9a-f]{12})$/i.exec(value.trim());
  return match?.[1] ? match[1].toLowerCase() : null;
}
