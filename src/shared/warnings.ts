/**
 * kafkajs 2.2.4 arms a timer at `-1 - Date.now()` (tulios/kafkajs#1751): Node ≥ 23 warns and uses
 * 1 ms, which is what kafkajs meant. The warning is a stray line among the JSON logs of every Kafka
 * process and the output of every Kafka command, however Node was started (the image's entry point,
 * `npx mistbridge`, `kubectl exec`): that one warning is dropped here; every other is printed as
 * Node prints it.
 */
export function quietKafkajsTimerWarning(): void {
  if (process.listenerCount('warning') === 0) return; // --no-warnings: Node prints none anyway
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    process.stderr.write(`(node:${process.pid}) ${warning.name}: ${warning.message}\n`);
  });
}
