import { z } from 'zod';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'] as const;
export type Severity = (typeof SEVERITIES)[number];
const severity = z.enum(SEVERITIES);

/** Per-topic routing: `drop` discards the topic's events; `index`/`sourcetype` override the HEC envelope. */
const route = z.strictObject({
  drop: z.boolean().optional(),
  index: z.string().min(1).optional(),
  sourcetype: z.string().min(1).optional(),
});
export type TopicRoute = z.infer<typeof route>;

const typeList = z.array(z.string().min(1));

/** CONTRACT section 6: which event types open, resolve or annotate which incident kind. */
const rules = z.strictObject({
  device: z
    .strictObject({ open: typeList.optional(), resolve: typeList.optional(), annotate: typeList.optional() })
    .optional(),
  marvis: z.strictObject({ groups: typeList.optional() }).optional(),
  security: z.strictObject({ groups: typeList.optional() }).optional(),
});
export type RuleOverrides = z.infer<typeof rules>;

/** The structured part of the YAML file (the variables are checked by variables.ts). */
export const fileSchema = z.strictObject({
  severity: z
    .strictObject({
      map: z.record(z.string().min(1), severity).optional(),
      overrides: z.record(z.string().min(1), z.record(z.string().min(1), severity)).optional(),
    })
    .optional(),
  topics: z.record(z.string().min(1), route).optional(),
  correlation: rules.optional(),
  /** CONTRACT section 9: more notification destinations, each with its own filters. */
  notify: z
    .strictObject({
      routes: z.array(
        z.strictObject({
          name: z.string().regex(/^[a-z0-9_-]+$/, 'lower-case letters, digits, - and _').optional(),
          destination: z.string().url(),
          kind: z.enum(['slack', 'teams', 'googlechat', 'webhook']),
          min_severity: severity.optional(),
          sites: z.array(z.string().min(1)).optional(),
          alarm_types: z.array(z.string().min(1)).optional(),
          kinds: z.array(z.enum(['device', 'marvis', 'security'])).optional(),
          /** An event route (0.3): matching events, not incidents. */
          events: z
            .strictObject({
              topic: z.string().min(1).optional(),
              type: z.string().min(1).optional(),
              site_id: z.string().min(1).optional(),
              severity: severity.optional(),
              match: z.record(z.string().min(1), z.string()).optional(),
            })
            .optional(),
          rate_per_s: z.number().positive().max(100).optional(),
        }),
      ),
    })
    .optional(),
  /** Personal fields per topic (`*` = every topic); replaces the default list. */
  privacy: z.strictObject({ fields: z.record(z.string().min(1), z.array(z.string().min(1))) }).optional(),
});
export type FileSettings = z.infer<typeof fileSchema>;
