from prefect import flow


@flow
def purge_tmp(older_than_days: int = 7) -> None:
    """Delete scratch files older than a week."""


@flow(name="vacuum-tables")
def vacuum(tables: list[str]) -> None:
    """Vacuum the warehouse tables."""
