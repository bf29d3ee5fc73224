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

/** The number's health as Meta reports it now: operating status, quality, throughput and messaging limit. */
export interface GraphPhoneHealth {
  id: string;
  status?: string;
  quality_rating?: string;
  throughput?: { level?: string };
  messaging_limit_tier?: string;
  platform_type?: string;
}

export function getPhoneHealth(graph: GraphClient, phoneNumberId: string): Promise<GraphPhoneHealth> {
  return graph.get<GraphPhoneHealth>(encodeURIComponent(phoneNumberId), {
    fields: 'status,quality_rating,throughput,messaging_limit_tier,platform_type',
  });
}
