from prefect import flow


@flow
def train_model(model: str = "xgboost", epochs: int = 10) -> float:
    """Train and register a churn model."""
    return 0.5 * epochs
