import datetime

from prefect import flow


@flow
def daily_report(audience: str = "team", region: str = "global") -> str:
    """Email the daily KPI report."""
    return f"{datetime.date.today()} report for {audience} in {region}"


# The weekly digest goes to a fixed list.
@flow(name="weekly-digest")
def digest(recipients: list[str] | None = None) -> None:
    for recipient in recipients or []:
        print(recipient)
