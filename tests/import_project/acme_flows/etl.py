"""Order and click loads."""

from prefect import flow, task


@task
def extract(source: str, days: int) -> list[dict]:
    return [{"source": source, "day": d} for d in range(days)]


@flow(name="acme-load-orders", log_prints=True)
def load_orders(source: str = "orders", days: int = 1, full_refresh: bool = False) -> int:
    """Load a source into the warehouse.

    With full_refresh, the tables are rebuilt from scratch.
    """
    rows = extract(source, days)
    print(f"loaded {len(rows)} rows from {source}")
    return len(rows)
