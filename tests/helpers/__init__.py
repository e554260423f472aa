"""What the tests share: scripted models and programs, fake devices and servers, the
child processes that tests kill, and scratch space. Tests import them as
``tests.helpers.NAME``; nothing here is a test."""
