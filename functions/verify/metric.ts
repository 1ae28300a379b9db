/** The metric a verification publishes (its count of mismatched rows), and the alarm and dashboard read. */
export const VERIFY_METRIC = { namespace: 'ToteSysPipeline', metricName: 'MismatchedRows' } as const;
