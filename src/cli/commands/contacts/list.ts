import type { Context } from '../../context.js';
import { windowClosesAt as closesAt } from '../../../services/messages/compose.js';
import { table } from '../../table.js';

export async function run(ctx: Context): Promise<void> {
  const store = await ctx.store();
  const workspace = await ctx.workspace();
  const now = ctx.now().getTime();
  const { MARKETING_PREFERENCE } = await import('../../../services/messages/compose.js');
  // Marketing opt-outs (user_preferences webhooks), by number and contact (a phone number or a user id).
  const optOuts = new Map(
    (await store.facts.preferences(workspace.id))
      .filter((p) => p.category === MARKETING_PREFERENCE && p.value.toLowerCase() === 'stop')
      .map((p) => [`${p.integrationId}\u0000${p.contactId}`, p.occurredAt]),
  );
  const contacts = (await store.inbox.listContacts(workspace.id)).map((c) => {
    const windowClosesAt = closesAt(c.lastInboundAt);
    return {
      channel: 'whatsapp' as const,
      integrationId: c.integrationId,
      id: c.contactId,
      kind: c.kind,
      name: c.name,
      userId: c.userId,
      firstSeenAt: c.firstSeenAt,
      lastInboundAt: c.lastInboundAt,
      messages: c.messages,
      // Free-form messages are allowed for 24 hours after the customer's last message; after that, templates only.
      windowOpen: windowClosesAt.getTime() > now,
      windowClosesAt: windowClosesAt.toISOString(),
      // They asked Meta to stop marketing messages: MARKETING templates to them are refused before Meta.
      marketingOptOutAt:
        optOuts.get(`${c.integrationId}\u0000${c.contactId}`) ?? (c.userId ? optOuts.get(`${c.integrationId}\u0000${c.userId}`) : undefined) ?? null,
    };
  });
  ctx.out.result(contacts, () => {
    if (contacts.length === 0) return 'Nobody has written yet.';
    return table(
      ['CONTACT', 'NAME', 'LAST MESSAGE', 'MESSAGES', 'WINDOW', 'MARKETING'],
      contacts.map((c) => [
        c.kind === 'phone' ? `+${c.id}` : c.id,
        c.name ?? '',
        ctx.time.atRelative(c.lastInboundAt),
        String(c.messages),
        c.windowOpen ? `open until ${ctx.time.atRelative(c.windowClosesAt)}` : 'closed (templates only)',
        c.marketingOptOutAt ? 'opted out' : '',
      ]),
    );
  });
}
