import type { EndpointSource } from '../endpoints/endpoint-source.ts';
import { isProxyError } from '../errors.ts';
import { CLIENT_ERRORS, errorReply } from './admin-protocol.ts';
import type { CommandOutcome } from './commands.ts';

/**
 * `endpoints`: re-read `--endpoints-file` and apply it to every service route, without a config
 * revision (no generation, no sha change, no reload). The client gets counts or a fixed text;
 * why a file was refused goes to the log only (seed C3), and its code to the audit record.
 */
export async function updateEndpoints(
  source: EndpointSource | undefined,
  trigger: string,
): Promise<CommandOutcome> {
  if (source === undefined) {
    return {
      outcome: 'error',
      reply: errorReply(CLIENT_ERRORS.noEndpointSource),
      audit: { code: 'ERR_ENDPOINTS_INVALID', endpoint_source: false },
    };
  }
  try {
    const applied = await source.update(trigger);
    return {
      outcome: 'ok',
      reply: { status: 'ok', ...applied },
      audit: { services: applied.services, endpoints: applied.endpoints },
    };
  } catch (err) {
    const code = isProxyError(err) ? err.code : 'ERR_INTERNAL';
    return {
      outcome: 'error',
      reply: errorReply(
        code === 'ERR_ENDPOINTS_INVALID'
          ? CLIENT_ERRORS.endpointsInvalid
          : CLIENT_ERRORS.endpointsFailed,
      ),
      audit: { code },
    };
  }
}
