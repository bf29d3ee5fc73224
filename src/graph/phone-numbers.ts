import type { GraphClient } from './client.js';
import type { GraphPhoneNumber } from './types.js';

const PHONE_FIELDS = [
  'id',
  'display_phone_number',
  'verified_name',
  'quality_rating',
  'code_verification_status',
  'platform_type',
  'throughput',
].join(',');

export function getPhoneNumber(graph: GraphClient, phoneNumberId: string): Promise<GraphPhoneNumber> {
  return graph.get<GraphPhoneNumber>(encodeURIComponent(phoneNumberId), { fields: PHONE_FIELDS });
}
