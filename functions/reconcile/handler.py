"""Reconcile (cron): republish queued analysis jobs nobody picked up; take back jobs whose worker died."""
from pva import jobs


def handler(context, event):
    report = jobs.reconcile()
    if report.expired or report.published:
        context.logger.info_with("reconciled", **report.as_dict())
    return report.as_dict()
