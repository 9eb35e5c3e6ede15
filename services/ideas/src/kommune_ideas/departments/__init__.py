"""Departments (Fachbereiche) that ideas belong to."""
