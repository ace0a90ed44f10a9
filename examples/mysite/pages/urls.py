from django.urls import path

from pages import views

urlpatterns = [
    path('', views.index, name='index'),
    path('healthz/', views.healthz),
    path('version/', views.version_view),
    path('echo/', views.echo),
    path('redirect/', views.redirect),
    path('cookie/set/', views.cookie_set),
    path('cookie/get/', views.cookie_get),
    path('big/', views.big),
    path('slow/', views.slow),
    path('sse/', views.sse),
    path('protected/<str:name>', views.protected),
    path('crash/', views.crash),
]
