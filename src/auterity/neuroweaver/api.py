"""NeuroWeaver HTTP routes (`/api/models`, `/api/datasets`, `/api/training-jobs`)."""

from __future__ import annotations

from fastapi import APIRouter

models = APIRouter(prefix="/api/models", tags=["models"])
datasets = APIRouter(prefix="/api/datasets", tags=["datasets"])
training_jobs = APIRouter(prefix="/api/training-jobs", tags=["training"])

routers = (models, datasets, training_jobs)
