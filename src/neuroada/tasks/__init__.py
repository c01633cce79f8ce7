"""The 23 benchmark tasks (+ the embedded `addition` task): data, prompts, answers, metrics."""

from neuroada.tasks.errors import MalformedDataError, MissingDataError
from neuroada.tasks.example import Example
from neuroada.tasks.registry import list_tasks, load_task_config
from neuroada.tasks.sources import resolve_data_dir
from neuroada.tasks.task import Task, load_task

__all__ = [
    "Example", "MalformedDataError", "MissingDataError", "Task",
    "list_tasks", "load_task", "load_task_config", "resolve_data_dir",
]
