/**
 * A display's registry record, stored by the auth service in KV bucket `ow_displays`
 * under `displayRegistryKey(tenant, displayId)` and read (watched) by ingest and edge.
 */
export interface DisplayRecord {
  v: 1;
  tenant: string;
  displayId: string;
  storeId: string;
  stations: string[];
  /** Durable consumer name of this display's mailbox on ORDERS. */
  consumer: string;
  status: 'registered' | 'enrolled' | 'decommissioned';
  createdAt: string;
  enrolledAt?: string;
  decommissionedAt?: string;
  label?: string;
}

/** KV keys may contain `.`; ids are validated, so the key is unambiguous. */
export function displayRegistryKey(tenant: string, displayId: string): string {
  return `${tenant}.${displayId}`;
}
