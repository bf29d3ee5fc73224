import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { UsageError } from '../../../errors.js';
import { APPROVAL_POLICIES } from '../../../services/messages/approvals.js';
import type { ApprovalPolicy } from '../../../store/types.js';
import type { policy as policyCommand } from './index.js';

const MEANING: Record<ApprovalPolicy, string> = {
  none: 'messages are sent at once',
  templates: 'template messages wait for approval; free-form replies are sent at once',
  all: 'every message (auto-replies included) waits for approval',
};

export async function run(ctx: Context, _options: Options<typeof policyCommand>, policy?: string): Promise<void> {
  const store = await ctx.store();
  // Setting a policy may create the workspace (before its first number is connected, so nothing slips out
  // unapproved); showing it may not.
  const workspace = await ctx.workspace({ create: policy !== undefined });
  if (policy !== undefined) {
    if (!APPROVAL_POLICIES.includes(policy as ApprovalPolicy)) {
      throw new UsageError(`The policy must be one of ${APPROVAL_POLICIES.join(', ')}; got "${policy}".`);
    }
    await store.workspaces.setApprovalPolicy(workspace.id, policy as ApprovalPolicy);
  }
  const current = (policy ?? workspace.approvalPolicy) as ApprovalPolicy;
  ctx.out.result({ workspace: workspace.name, policy: current }, () =>
    `${policy !== undefined ? 'Approval policy set' : 'Approval policy'} for workspace ${workspace.name}: ${current} (${MEANING[current] ?? current}).`,
  );
}
