export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The most timestamps (ms, ascending) in any window [t, t + widthMs) that starts at one of them. */
export function maxInWindow(timestamps, widthMs = 1000) {
  let worst = 0;
  let end = 0;
  for (let start = 0; start < timestamps.length; start += 1) {
    while (end < timestamps.length && timestamps[end] < timestamps[start] + widthMs) end += 1;
    worst = Math.max(worst, end - start);
  }
  return worst;
}
