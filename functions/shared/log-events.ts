/**
 * Every event the functions log, defined once: the message of a structured JSON line whose fields
 * carry the facts (`batchId`, `table`, `rows`, `durationMs` …). The step modules log only these
 * (their `log` dependency takes a {@link LogEvent}); the bench and the tests find lines by them;
 * no metric is computed from a message's text (functions/shared/metrics.ts publishes the metrics).
 */
export const LOG_EVENTS = {
  extract: {
    started: 'extract started',
    noPreviousKeySets: 'no key sets in the previous batch: deletions are detected from the next batch on',
    tableExtracted: 'table extracted',
    nothingChanged: 'nothing changed',
    batchCommitted: 'batch committed',
  },
  transform: {
    started: 'transform started',
    rowQuarantined: 'row quarantined',
    rowReleased: 'row released from quarantine',
    quarantinedRowClosed: 'quarantined row closed',
    unknownCurrency: 'unknown currency code: its name is the code',
    tableTransformed: 'table transformed',
    deletionsTransformed: 'deletions transformed',
    batchStaged: 'batch staged',
    batchCommitted: 'batch committed',
  },
  load: {
    batchAlreadyLoaded: 'batch already loaded',
    tableLoaded: 'table loaded',
    deletionsRecorded: 'deletions recorded',
    quarantineRecorded: 'quarantine recorded',
    batchLoaded: 'batch loaded',
  },
  verify: {
    started: 'verification started',
    rowsSummed: 'rows summed',
    tableVerified: 'table verified',
    finished: 'verification finished',
    changesSinceRead: 'changes since the batch read',
    noKeySets: 'the batch has no key sets: a row deleted since it is reported as extra',
    warehouseDiffers: 'warehouse differs from ToteSys',
  },
} as const;

type EventsOf<Step extends keyof typeof LOG_EVENTS> = (typeof LOG_EVENTS)[Step][keyof (typeof LOG_EVENTS)[Step]];

export type ExtractLogEvent = EventsOf<'extract'>;
export type TransformLogEvent = EventsOf<'transform'>;
export type LoadLogEvent = EventsOf<'load'>;
export type VerifyLogEvent = EventsOf<'verify'>;
export type LogEvent = ExtractLogEvent | TransformLogEvent | LoadLogEvent | VerifyLogEvent;

/** How a step module logs one event: the handler passes the step's Powertools logger behind it. */
export type LogEventWriter<Event extends LogEvent = LogEvent> = (event: Event, fields: Record<string, unknown>) => void;
