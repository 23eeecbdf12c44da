package views
