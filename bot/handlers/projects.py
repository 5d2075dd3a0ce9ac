"""/new /targets /untarget /show /projects /delete: building projects."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from herald.bot import args, texts
from herald.db import projects, queries


async def cmd_new(message: Message, command: CommandObject) -> None:
    name = args.name_only(command)
    user = message.from_user.id if message.from_user else None
    project = await projects.create_project(name, created_by=user)
    await message.answer(texts.created(project.name))


async def cmd_targets(message: Message, command: CommandObject) -> None:
    name, chats = args.name_and_chats(command)
    result = await projects.add_targets(name, chats)
    await message.answer(texts.targets_added(result))


async def cmd_untarget(message: Message, command: CommandObject) -> None:
    name, chats = args.name_and_chats(command)
    result = await projects.remove_targets(name, chats)
    await message.answer(texts.targets_removed(result))


async def cmd_show(message: Message, command: CommandObject) -> None:
    name = args.name_only(command)
    await message.answer(texts.overview(await queries.project_overview(name)))


async def cmd_projects(message: Message, command: CommandObject) -> None:
    args.nothing(command)
    await message.answer(texts.projects(await queries.list_projects()))


async def cmd_delete(message: Message, command: CommandObject) -> None:
    name = args.name_only(command)
    await projects.delete_project(name)
    await message.answer(texts.deleted(name))


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_new, Command("new", ignore_case=True))
    router.message.register(cmd_targets, Command("targets", ignore_case=True))
    router.message.register(cmd_untarget, Command("untarget", ignore_case=True))
    router.message.register(cmd_show, Command("show", ignore_case=True))
    router.message.register(cmd_projects, Command("projects", ignore_case=True))
    router.message.register(cmd_delete, Command("delete", ignore_case=True))
    return router
