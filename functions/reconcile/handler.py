"""Reconcile (cron): the periodic work of pva.services.housekeeping: republish queued analysis jobs nobody picked
up, take back jobs whose worker died, fold the library counters, prune old failed logins, sweep lost drops, group
libraries into bursts and prepare the "On this day" memories (issue 21)."""
from pva.services import housekeeping


def handler(context, event):
    report = housekeeping.reconcile()
    if report.expired or report.published:
        context.logger.info_with("reconciled", **report.as_dict())
    return report.as_dict()
