/** The metric a transform run publishes (the rows held in quarantine after it), and the alarm and dashboard read. */
export const QUARANTINE_METRIC = { namespace: 'ToteSysPipeline', metricName: 'QuarantinedRows' } as const;
