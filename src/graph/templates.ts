import type { GraphClient } from './client.js';
import type { GraphTemplate } from './types.js';

const TEMPLATE_FIELDS = 'id,name,language,status,category,parameter_format,components';

/** Every message template of the WABA, following `paging.next` to the end. */
export function listAllTemplates(graph: GraphClient, wabaId: string): Promise<GraphTemplate[]> {
  return graph.getAll<GraphTemplate>(`${encodeURIComponent(wabaId)}/message_templates`, {
    fields: TEMPLATE_FIELDS,
    limit: 100,
  });
}
