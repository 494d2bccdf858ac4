// Types for the part of bench/lib.js the tests share.
export function denseBody(firstSeq: number, count: number, devices?: number): Buffer;
