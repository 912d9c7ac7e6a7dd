// The partners the order services call: inventory, the payment gateway (PG) and address
// verification. Here they are simulated in-process with a network-like delay; a legacy service
// calls them live, a candidate in dry-run records the call and gets the dry-run answer instead.
import { randomBytes } from 'node:crypto';

export interface Partners {
  reserve(orderNo: string, lines: { sku: string; qty: number }[]): Promise<{ reservationId: string }>;
  approve(orderNo: string, amount: number, method: string): Promise<{ approvalNo: string }>;
  refund(orderNo: string, amount: number): Promise<{ refundNo: string }>;
  verifyAddress(zip: string): Promise<{ valid: boolean }>;
}

/** `latencyMs`: how long each call takes (a real partner is tens of milliseconds away). */
export function simulatedPartners(latencyMs: number): Partners {
  const later = <T>(value: () => T) => new Promise<T>((resolve) => setTimeout(() => resolve(value()), latencyMs));
  const id = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
  return {
    reserve: () => later(() => ({ reservationId: id('RSV') })),
    approve: () => later(() => ({ approvalNo: id('APV') })),
    refund: () => later(() => ({ refundNo: id('RFD') })),
    verifyAddress: (zip) => later(() => ({ valid: /^\d{5}$/.test(zip) })),
  };
}

/** What a dry-run side gets back instead of calling a partner. */
export const DRY_RUN_ANSWERS = {
  reserve: { reservationId: 'dry-run' },
  approve: { approvalNo: 'dry-run' },
  refund: { refundNo: 'dry-run' },
  verifyAddress: (zip: string) => ({ valid: /^\d{5}$/.test(zip) }),
};
