import type { TopicRoute } from '../config/file-schema';
import { own } from '../shared/own';

/**
 * CONTRACT section 5: the canonical topic — trimmed, lower-cased, every `_` replaced by `-`
 * (`location_asset` and `location-asset` are one topic, unknown topics too). Routes, severity
 * overrides, sourcetypes and metric labels all use it, so two spellings never split a search.
 */
export function canonicalTopic(topic: string): string {
  return topic.trim().toLowerCase().replace(/_/g, '-');
}

/** The route configured for a topic (config keys are canonicalized at load). */
export function routeFor(routes: Readonly<Record<string, TopicRoute>>, topic: string): TopicRoute | undefined {
  return own(routes, canonicalTopic(topic));
}
