import type { NotifyConfig, NotifyKind } from '../config/config';
import { publicIncident, type Incident } from '../domain/incident';
import type { Transition } from './transitions';

/**
 * Incident transitions in words (CONTRACT section 9), and the request body each service documents:
 * Slack (Block Kit in a coloured attachment, `text` as the fallback), Microsoft Teams (an Adaptive
 * Card in the envelope workflow webhooks accept), Google Chat (`cardsV2` with `text`), and the
 * generic webhook (one `{transition, incident, links}` per transition). Pure.
 */

const MAX_LINES = 20;
const MAX_ENTITIES = 10;
const COLOURS: Record<string, string> = { critical: '#B00020', high: '#E53935', medium: '#FB8C00', low: '#FDD835', informational: '#9E9E9E', resolved: '#2E7D32' };
const RESOLVED_BY: Record<string, string> = {
  recovery_event: 'back online',
  mist_resolved: 'resolved in Mist',
  quiet_window: 'quiet, no security alarm within the window',
  reconciled: 'the Mist API reports it connected',
};

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** One transition as a line of text. */
export function line(t: Transition): string {
  const i = t.incident;
  const details: string[] = [];
  if (i.kind === 'security' && i.entities.length > 0) details.push(`involving ${i.entities.slice(0, MAX_ENTITIES).join(', ')}${i.entities.length > MAX_ENTITIES ? ` and ${i.entities.length - MAX_ENTITIES} more` : ''}`);
  if (i.context.length > 0) details.push(`${i.kind === 'device' ? 'restarted: ' : ''}${i.context.join(', ')}`);
  const extra = details.length > 0 ? ` (${details.join('; ')})` : '';
  if (t.transition === 'opened') return `[${i.severity}] ${i.title} since ${when(i.opened_at)}${extra}`;
  const after = i.resolved_at !== null ? ` after ${duration(i.resolved_at - i.opened_at)}` : '';
  return `[resolved] ${i.title}: ${RESOLVED_BY[i.resolve_reason ?? ''] ?? 'resolved'}${after}${t.openedToo ? ` (opened ${when(i.opened_at)})` : ''}${extra}`;
}

export function links(incident: Incident, config: NotifyConfig['links']): Record<string, string> {
  const fill = (template: string): string =>
    template.replace(/\{(incident_id|key|site_id|kind)\}/g, (_, name: 'incident_id' | 'key' | 'site_id' | 'kind') => encodeURIComponent(String(incident[name] ?? '')));
  return {
    ...(config.splunk ? { splunk: fill(config.splunk) } : {}),
    ...(config.grafana ? { grafana: fill(config.grafana) } : {}),
  };
}

/** The summary of a group: one transition says itself; several are counted, with their site. */
export function headline(group: Transition[]): string {
  if (group.length === 1) {
    const t = group[0]!;
    return t.transition === 'opened' ? `${t.incident.severity[0]!.toUpperCase()}${t.incident.severity.slice(1)}: ${t.incident.title}` : `Resolved: ${t.incident.title}`;
  }
  const sites = [...new Set(group.map((t) => t.incident.site_name ?? t.incident.site_id ?? ''))];
  const opened = group.filter((t) => t.transition === 'opened').length;
  return `${group.length} incident changes at ${sites.length === 1 && sites[0] ? sites[0] : `${sites.length} sites`}: ${opened} opened, ${group.length - opened} resolved`;
}

export function colour(group: Transition[]): string {
  const open = group.filter((t) => t.transition === 'opened').map((t) => t.incident.severity);
  for (const severity of ['critical', 'high', 'medium', 'low', 'informational']) if (open.includes(severity as Incident['severity'])) return COLOURS[severity]!;
  return COLOURS.resolved!;
}

function textOf(group: Transition[], config: NotifyConfig['links'], link: (url: string, label: string) => string): string[] {
  const lines = group.slice(0, MAX_LINES).map((t) => {
    const l = links(t.incident, config);
    const suffix = Object.entries(l).map(([label, url]) => link(url, label === 'splunk' ? 'Splunk' : 'Grafana'));
    return `${line(t)}${suffix.length > 0 ? ` ${suffix.join(' ')}` : ''}`;
  });
  if (group.length > MAX_LINES) lines.push(`and ${group.length - MAX_LINES} more`);
  return lines;
}

/** The request bodies for one destination and one group of transitions. */
export function bodies(kind: NotifyKind, group: Transition[], config: NotifyConfig['links']): unknown[] {
  const title = headline(group);
  switch (kind) {
    case 'slack': {
      const lines = textOf(group, config, (url, label) => `<${url}|${label}>`);
      return [
        {
          text: `${title}\n${lines.join('\n')}`,
          attachments: [
            {
              color: colour(group),
              blocks: [
                { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
                { type: 'section', text: { type: 'mrkdwn', text: lines.map((l) => `• ${l}`).join('\n').slice(0, 3000) } },
                { type: 'context', elements: [{ type: 'mrkdwn', text: 'mistbridge · Juniper Mist incidents' }] },
              ],
            },
          ],
        },
      ];
    }
    case 'teams': {
      const lines = textOf(group, config, (url, label) => `[${label}](${url})`);
      return [
        {
          type: 'message',
          attachments: [
            {
              contentType: 'application/vnd.microsoft.card.adaptive',
              contentUrl: null,
              content: {
                $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
                type: 'AdaptiveCard',
                version: '1.4',
                msteams: { width: 'Full' },
                body: [
                  { type: 'TextBlock', text: title, weight: 'Bolder', size: 'Medium', wrap: true, color: group.every((t) => t.transition === 'resolved') ? 'Good' : 'Attention' },
                  ...lines.map((l) => ({ type: 'TextBlock', text: l, wrap: true, spacing: 'Small' })),
                ],
              },
            },
          ],
        },
      ];
    }
    case 'googlechat': {
      const lines = textOf(group, config, (url, label) => `<${url}|${label}>`);
      return [
        {
          text: `${title}\n${lines.join('\n')}`,
          cardsV2: [
            {
              cardId: `mistbridge-${group[0]!.incident.incident_id}`,
              card: {
                header: { title: title.slice(0, 200), subtitle: 'mistbridge · Juniper Mist incidents' },
                sections: [{ widgets: lines.map((l) => ({ textParagraph: { text: l } })) }],
              },
            },
          ],
        },
      ];
    }
    case 'webhook':
      return group.map((t) => ({ transition: t.transition, incident: publicIncident(t.incident), links: links(t.incident, config) }));
  }
}
