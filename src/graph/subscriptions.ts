import type { GraphClient } from './client.js';
import type { GraphPaged, GraphSubscribedApp } from './types.js';

/** Apps subscribed to the WABA's webhooks. Without a subscription, real messages never reach the webhook. */
export async function listSubscribedApps(graph: GraphClient, wabaId: string): Promise<GraphSubscribedApp[]> {
  const result = await graph.get<GraphPaged<GraphSubscribedApp>>(`${encodeURIComponent(wabaId)}/subscribed_apps`);
  return Array.isArray(result.data) ? result.data : [];
}

export async function subscribeApp(graph: GraphClient, wabaId: string): Promise<void> {
  // Safe to repeat: subscribing twice leaves one subscription.
  await graph.post<{ success?: boolean }>(`${encodeURIComponent(wabaId)}/subscribed_apps`, undefined, { retry: true, idempotent: true });
}
